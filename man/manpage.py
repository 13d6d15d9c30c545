#!/usr/bin/env python3
"""manpage.py — a man page made from a program's own --help texts, so the two cannot drift.

Usage: manpage.py OUT SECTION "NAME - SUMMARY" PROGRAM [SUBCOMMAND...]
       manpage.py OUT SECTION "NAME - SUMMARY" PROGRAM --page-of SUBCOMMAND

Runs `PROGRAM --help` (SYNOPSIS: its Usage lines; DESCRIPTION: the rest) and, for each
SUBCOMMAND, `PROGRAM SUBCOMMAND --help` (a COMMANDS subsection each), and writes the page to
OUT. With --page-of, the page is NAME's, made of `PROGRAM SUBCOMMAND --help` alone (the hint
library's page is that of `ublk-ctl run`, which documents its environment). Texts are kept line for line (no-fill), as the terminal shows them; tests/host/man.sh
checks a page against the program it was made from."""
import os
import subprocess
import sys


def help_text(argv):
    out = subprocess.run(argv + ['--help'], capture_output=True, text=True, check=True).stdout
    if not out.strip():
        sys.exit('manpage.py: %s --help printed nothing' % ' '.join(argv))
    return out.rstrip('\n').split('\n')


def roff(lines):
    """Lines as no-fill roff: backslashes and minus signs escaped, no line read as a request."""
    body = []
    for line in lines:
        line = line.replace('\\', '\\e').replace('-', '\\-')
        body.append('\\&' + line if line.startswith(('.', "'")) else line)
    return ['.nf'] + body + ['.fi']


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    out, section, name_line, program = sys.argv[1:5]
    subcommands = sys.argv[5:]
    name = os.path.basename(program)
    top_argv = [program]
    if subcommands[:1] == ['--page-of']:
        if len(subcommands) != 2:
            sys.exit(__doc__)
        top_argv.append(subcommands[1])
        name, subcommands = name_line.split(' - ')[0], []
    top = help_text(top_argv)
    if not top[0].startswith('Usage: '):
        sys.exit('manpage.py: %s --help does not start with "Usage: "' % name)
    # the Usage lines, "Usage: " taken off (and the same indent off the lines under it)
    usage = 1
    while usage < len(top) and top[usage].startswith(' ' * len('Usage: ')):
        usage += 1
    synopsis = [top[0][len('Usage: '):]] + [l[len('Usage: '):] for l in top[1:usage]]
    description = top[usage:]
    while description and not description[0].strip():
        description.pop(0)
    page = ['.\\" Made by man/manpage.py from %s --help: edit the program, not this file.' % name,
            '.TH %s %s "" "lineswap" "lineswap"' % (name.upper().replace('-', '\\-'), section),
            '.SH NAME', name_line.replace('-', '\\-', 1).replace(' - ', ' \\- '),
            '.SH SYNOPSIS'] + roff(synopsis)
    page += ['.SH DESCRIPTION'] + roff(description)
    if subcommands:
        page.append('.SH COMMANDS')
        for sub in subcommands:
            page += ['.SS %s %s' % (name, sub)] + roff(help_text([program, sub]))
    with open(out, 'w') as f:
        f.write('\n'.join(page) + '\n')


main()
