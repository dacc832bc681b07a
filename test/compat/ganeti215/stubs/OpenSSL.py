# Stand-in for pyOpenSSL: Ganeti 2.15's utils.x509 imports it; nothing the harness runs uses it.
