"""The main window's dockable panels."""
