"""Applications on top of the pipeline: the command line, batch jobs, Hub folders and the editing service they share."""
