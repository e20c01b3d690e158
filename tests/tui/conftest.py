"""For the TUI tests: a scripted decoder and updater, and the app on the real store in AMEND_HOME.

The scripted parts stand in for the models only (widget tests need no model); the store is the
real SQLite file of the test's temporary AMEND_HOME.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

from amend.store.db import open_store
from amend.tui.app import AmendApp
from amend.tui.services import Services
from tui_scripted import ANSWERS, PLAIN, ScriptedAnswerer, ScriptedUpdater  # noqa: F401




@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests here with asyncio.run (no asyncio plugin needed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


@pytest.fixture
def services(settings):
    store = open_store(settings)
    yield Services(
        settings=settings,
        store=store,
        load_answerer=lambda progress: ScriptedAnswerer(ANSWERS, PLAIN),
        updater=ScriptedUpdater(store=store),
        profile="tiny",
    )
    store.dispose()


@pytest.fixture
def make_app(services):
    """make_app(answerer=None, updater=None, session_id=None) -> AmendApp on the test's store."""

    def make(answerer=None, updater=None, session_id=None, loader=None):
        if answerer is not None:
            services.load_answerer = lambda progress: answerer
        if loader is not None:
            services.load_answerer = loader
        if updater is not None:
            if getattr(updater, "store", False) is None:
                updater.store = services.store
            services.updater = updater
        return AmendApp(services, session_id)

    return make
