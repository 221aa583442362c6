"""Carry a session to another checkout or machine, and finish it there.

    export.py     `prodigy sessions export ID -o FILE`: the session's state (state/carry.py) and a git bundle of
                  its branch (git/bundle.py), in one archive (state/archive.py)
    importer.py   `prodigy sessions import FILE -p DIR`: check the archive and the repository, rebase the recorded
                  paths onto DIR and this PRODIGY_HOME, recreate the branch and worktree, write the state
    relocate.py   `prodigy resume ID -p DIR` when the recorded checkout is gone: the same rebasing, with the
                  session branch taken from the clone (or its remotes) instead of an archive
    rebase.py     the pure part: rewriting paths and process records
"""
