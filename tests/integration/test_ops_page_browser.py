"""The operator page in headless Chromium over a real runner's journal (EMA cross on the
synthetic NSE minute bars, paper exchange, SQLite journal): the page's numbers are the
journal's, it updates through server-sent events when a fill is journaled, a pause without
a sign-in is refused and audited, and a signed-in pause is a kill the runner journals.

EMA cross with default params on 2025-03-03 goes short at the close of bar 22 (filled at
bar 23's open) and flips long at bar 30 (filled at bar 31's open)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from live.db import make_engine
from live.events import KillSwitchChanged, OrderFilled
from live.governance.kill import verified_commands
from live.state import replay
from strategies.costs import load_cost_rates, order_cost_breakdown
from stratops.cli import main
from stratops.governance_ops import directory
from stratops.risk_view import risk_inputs, risk_view
from tests.chain_tamper import Identities
from tests.ops_stack import OpsStack, governed_project, running
from tests.synthetic_datasets import nse_index_1m_path
from tests.unit.test_runner_engine import FIRST_ENTRY, Stores, day_bars, stores_in

pytestmark = pytest.mark.integration

FLIP = 30
REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 10


def _browser() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='stratops-chromium-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


@dataclass
class Page:
    stack: OpsStack
    stores: Stores
    browser: WebDriver

    def run(self, bars: int) -> None:
        """A new runner process's view of the stores, fed the day's first ``bars`` bars,
        obeying the governance store's kill commands."""
        engine = make_engine(self.stack.settings.governance.db_url, self.stack.root)
        trust = directory(self.stack.settings)
        runner = self.stores.runner(kill_commands=lambda last: verified_commands(
            engine, trust, last))
        runner.recover()
        runner.run(day_bars(bars))

    def wait_for(self, condition: object, what: str) -> None:
        """Until ``condition(browser)``; a table re-rendered under the check is retried."""
        WebDriverWait(self.browser, WAIT_SECONDS,
                      ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda b: condition(b), message=what)  # type: ignore[operator]

    def cells(self, selector: str) -> list[float]:
        """The numeric cells' full-precision values under ``selector``, read in one script
        (the page re-renders tables whole; one script sees one rendering)."""
        found = self.browser.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0]))"
            ".map((td) => td.dataset.value === undefined ? null : td.dataset.value);",
            selector)
        return [float("nan") if v is None else float(v) for v in found]

    def click_pause(self, strategy: str) -> None:
        """Click the strategy's pause button (found and clicked in one script: the health
        table may be re-rendered between a lookup and a click)."""
        self.browser.execute_script(
            "document.querySelector(arguments[0]).click();",
            f"#health tr[data-strategy='{strategy}'] button.pause")

    def values(self, table: str, key: str) -> list[float]:
        return self.cells(f"#{table} tr[data-strategy='{key}'] td.n")


def _project(root: Path) -> Identities:
    """A governed project whose runner journal is ``journal.db`` and whose research dataset
    (the risk report's return history) is the synthetic NSE minute bars."""
    people = governed_project(root)
    (root / "data" / "datasets").mkdir(parents=True)
    shutil.copy(nse_index_1m_path(), root / "data" / "datasets" / "nse_index_1m.parquet")
    for name in ("dvc.yaml", "dvc.lock"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "live" / "risk" / "margin_params",
                    root / "live" / "risk" / "margin_params")
    settings = yaml.safe_load((root / "stratops.yaml").read_text())
    settings["live"] = {"journal_url": "sqlite:///journal.db"}
    settings["research"] = {"datasets": ["nse_index_1m"]}
    (root / "stratops.yaml").write_text(yaml.safe_dump(settings))
    return people


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    root = tmp_path_factory.mktemp("ops-page")
    people = _project(root)
    stores = stores_in(root)
    with running(root, people) as stack:
        browser = _browser()
        try:
            here = Page(stack, stores, browser)
            here.run(FIRST_ENTRY + 2)  # the short entry is filled at bar 23's open
            browser.get(stack.url)
            here.wait_for(lambda b: b.find_elements(By.CSS_SELECTOR, "#fills tbody tr"),
                          "the first fill on the page")
            yield here
        finally:
            browser.quit()


def _journal_pnl(page: Page, strategy: str) -> list[float]:
    """realised, unrealised, charges, net of ``strategy`` from the journal itself."""
    journal = page.stores.journal()
    state = replay(journal)
    realised = unrealised = charges = 0.0
    for (name, symbol), pos in state.positions.items():
        if name == strategy:
            realised += pos.realised_pnl_inr
            unrealised += (state.last_bars[symbol].close - pos.avg_price) * pos.net_qty
    for _, message in journal.read():
        if isinstance(message, OrderFilled) and \
                state.orders[message.client_key].strategy == strategy:
            rates = load_cost_rates("index_future", on=message.ts_event.date())
            charges += order_cost_breakdown(rates, is_buy=str(message.side) == "BUY",
                                            notional_inr=abs(message.qty * message.price)
                                            ).total_inr
    return [realised, unrealised, charges, realised + unrealised - charges]


def _page_seq(page: Page) -> int:
    return int(page.browser.find_element(By.ID, "seq").text)


def _head(page: Page) -> int:
    return page.stores.journal().head()[0]


def test_ops_page_net_pnl_equals_the_journals(page: Page) -> None:
    page.wait_for(lambda b: _page_seq(page) == _head(page), "the page at the journal's head")
    assert page.values("pnl", "ema_cross") == pytest.approx(_journal_pnl(page, "ema_cross"),
                                                             rel=1e-12, abs=1e-9)


def test_ops_page_position_equals_the_journals(page: Page) -> None:
    page.wait_for(lambda b: _page_seq(page) == _head(page), "the page at the journal's head")
    state = replay(page.stores.journal())
    (strategy, symbol), pos = next(iter(state.positions.items()))
    net_qty, avg, last = page.values("positions", strategy)[:3]
    assert (net_qty, avg, last) == (pos.net_qty, pos.avg_price, state.last_bars[symbol].close)


def test_ops_page_risk_utilisation_equals_the_risk_report(page: Page) -> None:
    page.wait_for(lambda b: _page_seq(page) == _head(page), "the page at the journal's head")
    settings = page.stack.settings
    report = risk_view(risk_inputs(settings), replay(page.stores.journal()))
    shown = page.cells("#risk tbody tr td.n:nth-child(3)")
    assert shown == [r.value for r in report.rows]


def test_ops_page_shows_a_new_fill_once_the_runner_journals_it(page: Page) -> None:
    before = len(page.browser.find_elements(By.CSS_SELECTOR, "#fills tbody tr"))
    page.run(FLIP + 2)  # the flip: the short's exit and a long entry at bar 31's open
    fills = [m for _, m in page.stores.journal().read() if isinstance(m, OrderFilled)]
    page.wait_for(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#fills tbody tr"))
                  == len(fills) > before, "the flip's fills on the page")


def test_ops_page_pause_without_signing_in_is_refused_and_audited(page: Page) -> None:
    page.click_pause("ema_cross")
    page.wait_for(lambda b: "not signed in" in b.find_element(By.ID, "action-msg").text,
                  "the refusal on the page")
    last = [r for r in page.stack.audit() if r.kind == "refused"][-1]
    assert (last.actor, last.detail["action"]) == ("unauthenticated", "kill_switch")


def test_ops_page_signed_in_pause_is_journaled_by_the_runner(
        page: Page, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    browser = page.browser
    browser.find_element(By.ID, "btn-challenge").click()
    page.wait_for(lambda b: b.find_element(By.ID, "login-cmd").text, "the challenge")
    challenge = browser.find_element(By.ID, "login-cmd").text.rsplit(" ", 1)[-1]
    monkeypatch.setenv("STRATOPS_ROOT", str(page.stack.root))
    capsys.readouterr()
    assert main(["ops", "login", "--challenge", challenge, "--as", "bob"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "btn-login").click()
    page.wait_for(lambda b: "signed in as bob" in b.find_element(By.ID, "who").text,
                  "the signed-in session")
    page.click_pause("ema_cross")
    page.wait_for(lambda b: "kill switch K" in b.find_element(By.ID, "action-msg").text,
                  "the kill command's id")
    page.run(FLIP + 4)  # the runner polls the governance store between bars
    kills = [m for _, m in page.stores.journal().read() if isinstance(m, KillSwitchChanged)]
    page.wait_for(lambda b: b.find_element(
        By.CSS_SELECTOR, "#health tr[data-strategy='ema_cross'] td:nth-child(2)").text
        == "halt", "the halt on the page")
    assert (kills[-1].scope, str(kills[-1].mode), kills[-1].actor) == \
        ("ema_cross", "halt", "bob")
