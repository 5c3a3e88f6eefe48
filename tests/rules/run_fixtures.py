#!/usr/bin/python3
"""Runs `bitsync validate` over fixtures and compares its diagnostics with
the ones each fixture declares in its own comments.

A fixture is a .yaml/.yml file, or a directory NAME.d of drop-in files.
Comment lines steer the run and state what must come out:

    # expect: LINE:COL SEVERITY RULE   one diagnostic, in this file
    # expect-file: SEVERITY RULE       one diagnostic about the whole file
    # platform: windows|posix          --platform (default posix)
    # config: KEY = VALUE              a line of [agent] in a temporary bitsync.ini
    # args: --strict                   extra validate arguments
    # exit: N                          expected exit code (default: 1 when an
                                       error is expected, else 0)

The comparison is exact: every expected diagnostic must appear (file, line,
column, severity, rule) and nothing else may.  The text output is checked
too: each line is FILE:LINE:COL: SEVERITY: MESSAGE [RULE].
Prints one line per fixture and a final "N passed, N failed".
"""
import json
import os
import re
import subprocess
import sys
import tempfile

DIRECTIVE = re.compile(r'^\s*#\s*(expect|expect-file|platform|config|args|exit):\s*(.*?)\s*$')
TEXT_LINE = re.compile(r'^(?P<file>.+?):(?:(?P<line>\d+):(?P<col>\d+):)? (?P<sev>error|warning): (?P<msg>.+) \[(?P<rule>[a-z0-9-]+)\]$')


def fixture_files(path):
    if os.path.isdir(path):
        return sorted(os.path.join(path, n) for n in os.listdir(path)
                      if n.endswith(('.yaml', '.yml')))
    return [path]


def read_directives(path):
    spec = {'expect': [], 'platform': 'posix', 'config': [], 'args': [], 'exit': None}
    for f in fixture_files(path):
        with open(f, encoding='utf-8', errors='replace') as fh:
            for line in fh:
                m = DIRECTIVE.match(line)
                if not m:
                    continue
                key, val = m.groups()
                if key == 'expect':
                    pos, sev, rule = val.split()
                    ln, col = pos.split(':')
                    spec['expect'].append((f, int(ln), int(col), sev, rule))
                elif key == 'expect-file':
                    sev, rule = val.split()
                    spec['expect'].append((f, 0, 0, sev, rule))
                elif key == 'platform':
                    spec['platform'] = val
                elif key == 'config':
                    spec['config'].append(val)
                elif key == 'args':
                    spec['args'] += val.split()
                elif key == 'exit':
                    spec['exit'] = int(val)
    return spec


def run(bitsync, path, spec, fmt, cfgdir):
    cfg = os.path.join(cfgdir, 'bitsync.ini')
    lines = list(spec['config'])
    # A joined host (a test keytab of WS1$@EXAMPLE.TEST) unless the
    # fixture says otherwise: the runner's own /etc/krb5.keytab must not
    # decide rule anonymous-computer.
    if not any(c.split('=', 1)[0].strip() == 'machine_keytab' for c in lines):
        lines.append('machine_keytab = ' + os.path.join(
            os.path.dirname(os.path.abspath(__file__)), 'machine.keytab'))
    with open(cfg, 'w') as fh:
        fh.write('[agent]\n' + ''.join(c + '\n' for c in lines))
    cmd = [bitsync, '-c', cfg, 'validate', '--format', fmt,
           '--platform', spec['platform']] + spec['args'] + [path]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return cmd, p


def check(bitsync, path, cfgdir):
    spec = read_directives(path)
    problems = []
    cmd, p = run(bitsync, path, spec, 'json', cfgdir)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        return ['JSON output does not parse: %r (stderr %r)' % (p.stdout[:300], p.stderr[:300])]
    got = sorted((d['file'], d['line'], d['column'], d['severity'], d['rule'])
                 for d in out['diagnostics'])
    want = sorted(spec['expect'])
    for d in want:
        if d not in got:
            problems.append('missing  %s:%d:%d %s %s' % d)
    for d in got:
        if d not in want:
            msg = next(x['message'] for x in out['diagnostics']
                       if (x['file'], x['line'], x['column'], x['severity'], x['rule']) == d)
            problems.append('unwanted %s:%d:%d %s %s: %s' % (d + (msg,)))
    for d in out['diagnostics']:
        if len(d['message']) < 20:
            problems.append('message too terse to say what to do: %r' % d['message'])
    want_exit = spec['exit']
    if want_exit is None:
        strict = '--strict' in spec['args']
        want_exit = 1 if any(e[3] == 'error' or strict for e in spec['expect']) else 0
    if p.returncode != want_exit:
        problems.append('exit %d, expected %d' % (p.returncode, want_exit))
    if out['valid'] != (want_exit == 0):
        problems.append('"valid" is %s with exit %d' % (out['valid'], want_exit))
    # The text form carries the same diagnostics, one per line.
    cmd, t = run(bitsync, path, spec, 'text', cfgdir)
    lines = [l for l in t.stdout.splitlines() if not l.startswith('configuration ')]
    parsed = []
    for l in lines:
        m = TEXT_LINE.match(l)
        if not m:
            problems.append('text line not FILE:LINE:COL: SEVERITY: MESSAGE [RULE]: %r' % l)
            continue
        parsed.append((m['file'], int(m['line'] or 0), int(m['col'] or 0), m['sev'], m['rule']))
    if sorted(parsed) != got:
        problems.append('text and JSON diagnostics differ')
    if t.returncode != p.returncode:
        problems.append('text exit %d differs from JSON exit %d' % (t.returncode, p.returncode))
    if problems:
        problems.append('command: ' + ' '.join(cmd))
    return problems


def main():
    bitsync, roots = sys.argv[1], sys.argv[2:]
    fixtures = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for d in sorted(dirnames):
                if d.endswith('.d'):
                    fixtures.append(os.path.join(dirpath, d))
            dirnames[:] = sorted(d for d in dirnames if not d.endswith('.d'))
            fixtures += [os.path.join(dirpath, f) for f in sorted(filenames)
                         if f.endswith(('.yaml', '.yml'))]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as cfgdir:
        for fx in fixtures:
            problems = check(bitsync, fx, cfgdir)
            if problems:
                failed += 1
                print('FAIL %s' % fx)
                for pr in problems:
                    print('     ' + pr)
            else:
                passed += 1
                print('ok   %s' % fx)
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed or not fixtures else 0


if __name__ == '__main__':
    sys.exit(main())
