"""Scripts run by Debian's /usr/bin/python3, the only interpreter with Samba's bindings.

They run outside auditor's environment, so they import nothing of auditor."""
