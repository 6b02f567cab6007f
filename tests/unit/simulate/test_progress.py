"""The progress line and the summary: in place on a terminal, one line per interval in a log."""

from __future__ import annotations

import io

from iotmon.simulate.generator import GeneratorCounts
from iotmon.simulate.progress import Progress, progress_line
from iotmon.simulate.stats import Counters, Summary


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def busy_counters() -> Counters:
    counters = Counters(sent=150_000, acknowledged=149_000)
    counters.fail(3, "UNKNOWN_DEVICE")
    return counters


def test_the_line_shows_sent_acknowledged_rates_and_failures() -> None:
    line = progress_line(10.0, busy_counters(), 15_000.4, 14_900.0)

    assert line == "   10.0s  sent     150,000 (  15,000/s)  acked     149,000 (  14,900/s)  failed 3"


def test_on_a_terminal_the_line_is_rewritten_in_place() -> None:
    out = Terminal()
    progress = Progress(busy_counters(), out, interval=1)
    progress.start()
    progress.show()
    progress.show()
    progress.say("registering 5 devices")
    progress.finish()

    empty, first, second, blank, message, final = out.getvalue().split("\r")
    assert empty == ""
    assert "sent     150,000" in first
    assert "failed 3" in first
    assert second.rstrip() == first.rstrip(), "rewritten, not appended"
    assert "\n" not in first + second
    assert blank.strip() == "", "a message first wipes the line"
    assert message == "registering 5 devices\n"
    assert "acked     149,000" in final
    assert final.endswith("\n"), "the final counts end the line"


def test_in_a_log_each_update_is_a_line_of_its_own() -> None:
    out = io.StringIO()
    progress = Progress(busy_counters(), out, interval=1)
    progress.start()
    progress.show()
    progress.show()
    progress.finish()

    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "\r" not in out.getvalue()
    assert all("sent" in line and "acked" in line for line in lines)


def test_the_summary_names_the_counts_and_the_failure_reasons() -> None:
    counters = busy_counters()
    generated = GeneratorCounts(readings=148_500, duplicates=1_500, out_of_order=2_970, anomalies=300)
    summary = Summary.of(via="mqtt", devices=1_000, seed=7, elapsed=10.0, counters=counters, generated=generated)

    text = summary.render()
    assert "simulated 1000 devices via mqtt for 10.0 s (seed 7)" in text
    assert "148,500 distinct (2,970 out of order, 300 with a spike) + 1,500 duplicates" in text
    assert "150,000 messages (15,000/s)" in text
    assert "failed        3  (UNKNOWN_DEVICE 3)" in text
