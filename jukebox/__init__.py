"""AI Jukebox: learn the style of a MIDI collection per genre and compose new pieces in it."""
from .entrypoint import cache_compiled_loops, quiet_tensorflow

# Here, because every front door (a stage, the `jukebox` command, the web app under gunicorn) imports the package
# before anything loads TensorFlow: its CUDA probing on CPU machines would otherwise bury the logs, and it reads
# its XLA flags once, as it loads.
quiet_tensorflow()
cache_compiled_loops()
