"""Scripts run by Debian's /usr/bin/python3, the only interpreter with Samba's bindings."""
