"""AI Jukebox: learn the style of a MIDI collection per genre and compose new pieces in it."""
import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) buries the stage logs; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
