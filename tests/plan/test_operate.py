"""Operating the agent (issue 12): what an administrator meets on the
command line and in retries.  Real engine against nginx on 127.0.0.1.

Run one: BITSYNC=build/bitsync ENGINE_DRIVE=build/tests/engine/engine_drive \
    /usr/bin/python3 tests/plan/test_operate.py OperateTest.test_backend_refused
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_apply import Base  # noqa: E402


class OperateTest(Base):
    def test_backend_refused(self):
        """backend = bits off Windows: every command that would open a
        backend exits 69 with a sentence naming the config and the fix;
        nothing is created in the state directory."""
        with open(self.config) as f:
            good = f.read()
        with open(self.config, "a") as f:
            f.write("[agent]\nbackend = bits\n")
        before = sorted(os.listdir(self.state))
        for cmd in (["plan"], ["apply"], ["status"], ["run"]):
            p = self.run_bitsync(*cmd, timeout=20)
            self.assertEqual(p.returncode, 69, (cmd, p.stdout, p.stderr))
            self.assertIn(self.config, p.stderr)
            self.assertIn("backend = bits", p.stderr)
            self.assertIn("backend = engine", p.stderr)
        self.assertEqual(sorted(os.listdir(self.state)), before)
        # The same config with the engine named works.
        with open(self.config, "w") as f:
            f.write(good + "[agent]\nbackend = engine\n")
        p = self.run_bitsync("plan", timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main()
