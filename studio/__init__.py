"""Studio: a desktop studio for composing with cloud AI audio engines."""

__version__ = "0.1.0"
APP_NAME = "Studio"
# Folder/keyring/settings identifier; also the keyring service name.
APP_ID = "studio"
