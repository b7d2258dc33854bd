"""One way to make a thing choosable by name: a `Registry` per kind of plugin.

A plugin gives its name once, where it is defined (`@SOLVERS.register("gmres")` on the class),
as neuraloperator's models do in their class statement and PETSc's `KSPRegister` does for a
Krylov method. A registry knows the package its plugins live in and imports it on demand: the
module named like the plugin first (a run pays only for the imports of what it uses), every
module of the package when a name is not found there, so that a plugin's own file is all it
takes to add one. An unknown name is a `UserError` that lists what exists.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from omegaconf import DictConfig, OmegaConf

from surrogate.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Plugins of one kind by name, in the order they were registered.

    `key` is how users choose one (`pde`, `solver.preconditioner`): it names the choice in the
    error. `package` is where the plugins are defined ("surrogate.pdes"); None when they are
    all in the module that holds the registry.
    """

    def __init__(self, key: str, package: str | None = None) -> None:
        self.key = key
        self.package = package
        self._plugins: dict[str, T] = {}
        self._complete = package is None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: make the class or function it decorates choosable as `name`."""

        def add(plugin: T) -> T:
            if name in self._plugins and self._plugins[name] is not plugin:
                raise ValueError(f"{self.key}={name} is registered twice")
            self._plugins[name] = plugin
            return plugin

        return add

    def get(self, name: object) -> T:
        """The plugin registered as `name`; an unknown name is a UserError listing the names."""
        if not isinstance(name, str):
            raise UserError(f"{self.key}={name!r} is unknown; choose one of: {self._listing()}")
        if name not in self._plugins:
            self._import(name)
        if name not in self._plugins:
            raise UserError(f"{self.key}={name} is unknown; choose one of: {self._listing()}")
        return self._plugins[name]

    def __contains__(self, name: object) -> bool:
        try:
            self.get(name)
        except UserError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def choose(self, cfg: DictConfig, key: str) -> T:
        """The plugin a config value names, checked as the config checks do (`key=value`).

        A known name imports only what `get` needs (its own module): listing every plugin
        imports the whole package (for the solvers' sorts about 0.1 s of scipy.linalg and the
        Krylov methods that a direct run never uses), so only an unknown name pays for it.
        """
        from surrogate.checks import require_choice  # checks holds the require_* helpers

        value = OmegaConf.select(cfg, key, throw_on_missing=False)
        if isinstance(value, str):
            if value not in self._plugins:
                self._import(value)
            if value in self._plugins:
                return self._plugins[value]
        return self.get(require_choice(cfg, key, tuple(self.names())))

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        self._import_all()
        return list(self._plugins)

    def items(self) -> Iterator[tuple[str, T]]:
        self._import_all()
        return iter(list(self._plugins.items()))

    def _listing(self) -> str:
        return ", ".join(self.names())

    def _import(self, name: str) -> None:
        """Import the module named like the plugin (the usual home of `name`), then all."""
        if self.package is None:
            return
        if name.isidentifier() and importlib.util.find_spec(f"{self.package}.{name}") is not None:
            importlib.import_module(f"{self.package}.{name}")
        if name not in self._plugins:
            self._import_all()

    def _import_all(self) -> None:
        if self._complete:
            return
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            name = f"{self.package}.{module.name}"
            # Imported already, or lazily (`surrogate.lazy`: importing it again would run it
            # now, e.g. numba's 0.5 s for the compiled kernels); a lazy module registers none.
            if name not in sys.modules:
                importlib.import_module(name)
        self._complete = True
