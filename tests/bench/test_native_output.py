"""bench.native_output: descriptor 1 captured while native code prints, and given back."""

import os
import threading

from bench import native_output


def test_what_native_code_writes_is_captured_and_the_console_given_back(capfd):
    with native_output.captured_stdout() as captured:
        os.write(1, b"from C++\n")  # what std::cout or printf does: straight to descriptor 1
        captured.seek(0)
        assert captured.read() == "from C++\n"
    os.write(1, b"after\n")
    assert capfd.readouterr().out == "after\n"


def test_an_abandoned_build_gives_the_console_back_and_captures_nothing_later(capfd):
    inside, leave = threading.Event(), threading.Event()
    seen = []

    def build():
        with native_output.captured_stdout():
            inside.set()
            leave.wait()
        with native_output.captured_stdout() as later:  # after it was abandoned
            os.write(1, b"build's later output\n")
            later.seek(0)
            seen.append(later.read())

    thread = threading.Thread(target=build)
    thread.start()
    assert inside.wait(60)  # hang guard
    native_output.abandon(thread)
    os.write(1, b"the run goes on\n")
    leave.set()
    thread.join(60)
    os.write(1, b"and ends\n")
    assert capfd.readouterr().out == "the run goes on\nbuild's later output\nand ends\n"
    assert seen == [""]
