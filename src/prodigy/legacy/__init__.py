"""Sessions and jobs the original (Rust) prodigy left in the same PRODIGY_HOME: recognised by their shape,
converted once into our records (the originals are never written), then resumed like our own.

    find(text)            which original a typed id names (session id, workflow-<ms> checkpoint id, job id,
                          or a unique prefix), or None                                      (find.py)
    lookup(text)          for every command's id resolution: the converted session's Target, an error for an
                          original not converted yet, or None when the id is not the original's (resolve.py)
    prepare_resume(text)  for resume / resume-job: convert when needed, return the Target    (resolve.py)
    migrate(...)          convert every original: `prodigy migrate`                          (migrate.py)
    original_rows()       the originals not converted yet, for `sessions list`               (listing.py)

The parts: shapes and job_shapes (read and check the original's records), discover (where its files are),
events and recover (which map items finished), standard and mapreduce (the plans), worktree (its git
worktree), convert (writes our records through the state package).

Callers import the part they need (prodigy.legacy.resolve for the id hook), so resolving an id of ours never
loads the conversion machinery.
"""
