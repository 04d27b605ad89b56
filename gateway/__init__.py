"""The gateway: one front door for the mini-program, the app and the desktop console."""
