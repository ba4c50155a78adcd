-- bitcoIM as a Prosody component. Add to /etc/prosody/prosody.cfg.lua (or
-- drop into /etc/prosody/conf.d/) and reload Prosody.
--
-- The component port must be open on loopback only: bitcoIM runs on the
-- same machine.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

-- The name must be [XMPP] jid and the secret [XMPP] password of
-- bitcoim.conf.
Component "bitcoin.example.org"
    component_secret = "change-me-to-a-long-random-secret"
