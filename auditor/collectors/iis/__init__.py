"""IIS configuration read as IIS reads it: applicationHost.config and web.config files in."""
