"""The Ansible sample (samples/ansible) run for real with Debian's
ansible-playbook against localhost (connection local, no SSH), on a
temporary tree: its own bitsync.ini (passed with -c), drop-in directory,
state directory and destinations, and nginx on 127.0.0.1 serving the files
(tests/servers/servers.py).  No network but 127.0.0.1.

  first run                 -> PLAY RECAP changed=1, the files arrive
  second run                -> changed=0
  invalid manifest          -> the play fails at the validate task, the
                               drop-in directory keeps the previous good
                               file byte for byte, no staging dir is left
  --check on a fresh host   -> changed=1, nothing written anywhere
  edited set                -> changed=1, the new file arrives

Run one: BITSYNC=build/bitsync /usr/bin/python3 tests/cm/test_ansible.py \
    AnsibleTest.test_first_changed_second_ok_invalid_stops
"""

import hashlib
import json
import os
import pwd
import grp
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))
import servers  # noqa: E402

BITSYNC = os.path.abspath(os.environ.get(
    "BITSYNC", os.path.join(ROOT, "build", "bitsync")))
PLAYBOOK = os.path.join(ROOT, "samples", "ansible", "site.yml")
INVENTORY = os.path.join(ROOT, "samples", "ansible", "inventory.ini")
ANSIBLE = "/usr/bin/ansible-playbook"       # Debian's, not a pip one
DROPIN = "50-ansible.yaml"
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+"
                   r"unreachable=(\d+)\s+failed=(\d+)", re.M)


def sha(data):
    return hashlib.sha256(data).hexdigest()


class AnsibleTest(unittest.TestCase):

    def setUp(self):
        if not os.path.exists(ANSIBLE):
            self.fail("%s missing: install ansible-core "
                      "(packaging/apt-packages.txt)" % ANSIBLE)
        self.dir = tempfile.mkdtemp(prefix="bitsync-cm-")
        os.chmod(self.dir, 0o755)
        self.www = os.path.join(self.dir, "www")
        self.etc = os.path.join(self.dir, "etc")
        self.mdir = os.path.join(self.etc, "manifest.d")
        self.state = os.path.join(self.dir, "state")
        self.dst = os.path.join(self.dir, "dst")
        for d in (self.www, self.etc, self.mdir, self.dst):
            os.makedirs(d)
            os.chmod(d, 0o755)
        os.makedirs(self.state, 0o700)
        self.content = {}
        for name in ("a.bin", "b.bin"):
            data = os.urandom(64 * 1024)
            with open(os.path.join(self.www, name), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(self.www, name), 0o644)
            self.content[name] = data
        self.config = os.path.join(self.etc, "bitsync.ini")
        with open(self.config, "w") as f:
            f.write("[agent]\nmanifest =\nmanifest_dir = %s\n"
                    "state_dir = %s\nstatus_file = %s/status.json\n"
                    % (self.mdir, self.state, self.state))
        os.chmod(self.config, 0o644)
        self.web = servers.Nginx(self.dir, self.www)
        self.web.start()
        self.env = {k: v for k, v in os.environ.items()
                    if k.lower() not in ("http_proxy", "https_proxy",
                                         "all_proxy", "no_proxy")}
        self.env.update({
            "ANSIBLE_HOME": os.path.join(self.dir, "ansible"),
            "ANSIBLE_LOCAL_TEMP": os.path.join(self.dir, "ansible", "tmp"),
            "ANSIBLE_REMOTE_TEMP": os.path.join(self.dir, "ansible", "rtmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_PIPELINING": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_LOCALHOST_WARNING": "0",
        })
        self.owner = pwd.getpwuid(os.getuid()).pw_name
        self.group = grp.getgrgid(os.getgid()).gr_name

    def tearDown(self):
        self.web.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers ----------------------------------------------------------

    def set_files(self, names):
        return [{"path": n, "sha256": sha(self.content[n])} for n in names]

    def vars(self, files=("a.bin",), url=None):
        source = {"url": url or self.web.url("/"),
                  "proxy": {"usage": "no_proxy"}}
        if url is not None and not url.startswith("http"):
            source = {"url": url, "auth": "computer"}
        return {
            "bitsync_binary": BITSYNC,
            "bitsync_config": self.config,
            "bitsync_manifest_dir": self.mdir,
            "bitsync_manifest_file": "",
            "bitsync_dropin_owner": self.owner,
            "bitsync_dropin_group": self.group,
            "bitsync_apply_timeout": "90s",
            "bitsync_defaults": {"retry_delay": "5s"},
            "bitsync_sources": {"web": source},
            "bitsync_sets": [{"name": "tools", "source": "web",
                              "destination": os.path.join(self.dst, "tools"),
                              "files": self.set_files(files)}],
        }

    def play(self, variables, *extra):
        vfile = os.path.join(self.dir, "vars.json")
        with open(vfile, "w") as f:
            json.dump(variables, f)
        p = subprocess.run([ANSIBLE, "-i", INVENTORY, PLAYBOOK,
                            "-e", "@" + vfile] + list(extra),
                           cwd=self.dir, env=self.env, capture_output=True,
                           text=True, timeout=150)
        out = p.stdout + p.stderr
        m = RECAP.search(out)
        self.assertIsNotNone(m, "no PLAY RECAP in:\n" + out)
        ok, changed, unreachable, failed = map(int, m.groups())
        return p.returncode, changed, failed, out

    def dropin(self):
        with open(os.path.join(self.mdir, DROPIN), "rb") as f:
            return f.read()

    def local(self, name):
        with open(os.path.join(self.dst, "tools", name), "rb") as f:
            return f.read()

    def no_stage_left(self):
        left = [n for n in os.listdir(self.etc)
                if n.startswith(".bitsync-stage.")]
        self.assertEqual(left, [], "staging directories left behind")

    def status(self):
        p = subprocess.run([BITSYNC, "-c", self.config, "status",
                            "--format", "json"], capture_output=True,
                           text=True, timeout=60, env=self.env)
        return p.returncode, json.loads(p.stdout)

    # -- tests ------------------------------------------------------------

    def test_first_changed_second_ok_invalid_stops(self):
        rc, changed, failed, out = self.play(self.vars())
        self.assertEqual((rc, failed), (0, 0), out)
        self.assertEqual(changed, 1, "first run must report changed:\n" + out)
        self.assertIn("+ tools: create (never applied)", out)
        self.assertEqual(self.local("a.bin"), self.content["a.bin"])
        good = self.dropin()
        self.assertIn(b"version: 1", good)
        st = os.stat(os.path.join(self.mdir, DROPIN))
        self.assertEqual(st.st_mode & 0o777, 0o644)
        src, doc = self.status()
        self.assertEqual(src, 0, doc)
        self.assertEqual(doc["summary"]["in_sync"], 1)
        self.assertEqual(doc["sets"][0]["state"], "in-sync")
        self.no_stage_left()

        rc, changed, failed, out = self.play(self.vars())
        self.assertEqual((rc, changed, failed), (0, 0, 0),
                         "second run must be ok, not changed:\n" + out)
        self.assertEqual(self.dropin(), good)

        # A drive-letter path where a UNC url belongs: unc-only.
        rc, changed, failed, out = self.play(self.vars(url="Z:\\dist"))
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(failed, 1, out)
        self.assertEqual(changed, 0, out)
        fatal = out.find("fatal: [localhost]")
        self.assertNotEqual(fatal, -1, out)
        task = out.rfind("TASK [", 0, fatal)
        self.assertTrue(out.startswith(
            "TASK [bitsync_manifest : Validate the manifest with bitsync "
            "validate]", task), "the play must fail at the validate "
            "step:\n" + out)
        self.assertIn("[unc-only]", out[fatal:])
        self.assertNotIn("TASK [bitsync_manifest : Install", out)
        self.assertEqual(self.dropin(), good,
                         "the drop-in directory must keep the good file")
        self.assertEqual(sorted(os.listdir(self.mdir)), [DROPIN])
        self.assertEqual(self.local("a.bin"), self.content["a.bin"])
        self.no_stage_left()
        src, doc = self.status()
        self.assertEqual(src, 0, doc)
        self.assertTrue(doc["manifest"]["valid"])

    def test_check_mode_writes_nothing_then_edit_is_changed(self):
        rc, changed, failed, out = self.play(self.vars(), "--check")
        self.assertEqual((rc, changed, failed), (0, 1, 0), out)
        self.assertEqual(os.listdir(self.mdir), [],
                         "--check must not install the drop-in")
        self.assertEqual(os.listdir(self.dst), [],
                         "--check must not transfer")
        self.no_stage_left()

        rc, changed, failed, out = self.play(self.vars())
        self.assertEqual((rc, changed, failed), (0, 1, 0), out)
        self.assertEqual(self.local("a.bin"), self.content["a.bin"])

        rc, changed, failed, out = self.play(self.vars(("a.bin", "b.bin")))
        self.assertEqual((rc, changed, failed), (0, 1, 0),
                         "an edited set must report changed:\n" + out)
        self.assertIn("+ tools: create (spec changed)", out)
        self.assertEqual(self.local("b.bin"), self.content["b.bin"])
        self.assertEqual(self.local("a.bin"), self.content["a.bin"])
        self.no_stage_left()


if __name__ == "__main__":
    unittest.main()
