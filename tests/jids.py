"""The JIDs of bitcoIM's contacts, computed as src/bitcoin/address.rs
documents them, without the daemon's code: the tests check the daemon
against this."""

import re

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


def node_address(node):
    """The address a contact's JID node stands for: address_node undone
    (the letters the mask names are uppercase again)."""
    if "-" not in node:
        return node
    lower, suffix = node.rsplit("-", 1)
    mask = int(suffix, 36)
    chars = list(lower)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    for bit, i in enumerate(reversed(letters)):
        if mask >> bit & 1:
            chars[i] = chars[i].upper()
    return "".join(chars)


def address_nick_pattern(address):
    """The nick of an address contact, in English or French: "deposit 2
    (mq7s…x7)", its rank among the user's addresses and its ends."""
    ends = f"{re.escape(address[:4])}…{re.escape(address[-2:])}"
    return rf"(deposit|dépôt) (\d+) \({ends}\)"


def contact(address):
    return f"{address_node(address)}@{GATEWAY}"
