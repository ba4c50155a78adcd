"""The JIDs of bitcoIM's contacts, computed as src/bitcoin/address.rs
documents them, without the daemon's code: the tests check the daemon
against this."""

import testbed

GATEWAY = testbed.COMPONENT_JID


def address_node(address):
    """The JID node of a base58 address: lowercase, then '-' and the
    base-36 mask of its uppercase letters (bit 0 = rightmost letter)."""
    letters = [c for c in address if c.isalpha()]
    mask = sum(1 << bit for bit, c in enumerate(reversed(letters)) if c.isupper())
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    suffix = ""
    while mask:
        mask, r = divmod(mask, 36)
        suffix = digits[r] + suffix
    return address.lower() + (f"-{suffix}" if suffix else "")


def contact(address):
    return f"{address_node(address)}@{GATEWAY}"
