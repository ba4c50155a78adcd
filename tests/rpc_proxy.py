"""A loopback HTTP proxy between bitcoIM and its node, for the withdrawal
tests: it forwards every JSON-RPC call unchanged, except the
`sendtoaddress` calls a test scripts in advance.

Scripted behaviours (one per coming `sendtoaddress`, in order; once the
script is empty, calls are forwarded again):

- ("forward",): forward and relay the answer (the default);
- ("drop-reply",): forward the call, so the node really sends, then close
  the connection without answering: a lost reply. It is meant for a call
  that sends: when the node refuses the call (a JSON-RPC error, so nothing
  was sent: a daemon probing whether the node takes an argument), the
  refusal is relayed, recorded as "node error <code>", and the drop waits
  for the next `sendtoaddress`;
- ("error", code, message): do not forward; answer with that JSON-RPC
  error, as bitcoind words it (HTTP 500, JSON body). A scripted double:
  the regtest node cannot produce each error code on demand (-13 needs an
  encrypted wallet, -32603 an internal failure, and so on), so the proxy
  replays bitcoind's reply shape instead;
- ("http", status, body): do not forward; answer that raw HTTP status and
  body (an HTTP 500 whose body is not JSON, as a broken reverse proxy or a
  crashing node would give);
- ("stall", seconds): do not forward; say nothing for that long (longer
  than the daemon's RPC timeout), then close the connection.

A dropped reply's result (the txid the node returned and the daemon never
heard) is kept in `dropped_results`, so that a test can tell which
transaction the lost call made.

Opt-in: `core_listsinceblock=True` -- a SCRIPTED DOUBLE OF BITCOIN CORE'S
`listsinceblock`. The testbed node (Bitcoin SV 1.0.13, TESTBED.md) predates
Core's `removed` array; in this mode the proxy rewrites the node's answer
into what Core (0.21 and later, src/wallet/rpc/transactions.cpp) answers for
the same wallet and chain, using only the node's own RPCs:

- `removed` (always present, as with Core's default include_removed=true):
  when the given block is no longer on the main chain (`getblock` says
  confirmations -1), the wallet transactions of the stale blocks from the
  given block back to the fork point (walked with previousblockhash), each
  listed as Core's ListTransactions lists it with nMinDepth -100000000: one
  entry per wallet output or send, shaped like a `transactions` entry, with
  the transaction's CURRENT confirmations from `gettransaction`. So a
  transaction re-mined in another block is listed both in `transactions`
  and in `removed`, positive in both (Core's functional test
  wallet_listsinceblock.py, test_double_send); a conflicted one is in
  `removed` with its negative confirmations. For a conflicted deposit the
  node's `gettransaction` has empty `details` (its ListTransactions drops
  receives below depth 0, as Core's does): the receive entries are rebuilt
  from the raw transaction, one per output the wallet owns
  (`validateaddress` ismine). Outputs of a conflicted transaction of our
  own (it has a fee) are not rebuilt: change cannot be told apart.
- `transactions`: the node's list, less the entries Core leaves out when a
  block is given: Core lists a wallet transaction only while
  abs(its confirmations) < the depth of the given block (counted from the
  fork point: tip height + 1 - fork height), so a conflicted transaction
  is listed with its negative confirmations only while it is that recent.
  Core's ListTransactions lists a transaction's `receive` entries only at
  depth >= 0: a conflicted deposit is never in Core's `transactions`, only
  in `removed` (as on the node). Its `send` entries are listed.
- an unknown block hash is Core's error -5 "Block not found" (the node
  would list everything instead).

Every `removed` entry served is recorded in `removed_served` (txid, vout,
confirmations), so that a test can check the situation it builds really
reached the daemon.

It binds 127.0.0.1 on a free port and runs in daemon threads; `close()`
stops it.
"""

import http.client
import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# Core's nMinDepth for the `removed` array: "all transactions regardless of
# confirmation count, even negative confirmation ones".
REMOVED_MIN_DEPTH = -100_000_000
SATOSHI = Decimal("0.00000001")


class NodeRpcError(Exception):
    def __init__(self, method, code, message):
        super().__init__(f"{method}: {message} (code {code})")
        self.code = code
        self.message = message


def to_json(value):
    """JSON text of a reply parsed with parse_float=Decimal: amounts are
    written back as the exact numbers they were (`1.00000000`), never
    through a float."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if value is None or isinstance(value, (bool, int, str)):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as JSON")


class RpcProxy:
    def __init__(self, target_port, target_host="127.0.0.1", core_listsinceblock=False):
        self.target = (target_host, target_port)
        self.core_listsinceblock = core_listsinceblock
        self._lock = threading.Lock()
        self._script = []
        # Every call seen, as (method, what was done): "forwarded",
        # "reply-dropped", "error -6", "http 500", "stalled", "core: ...".
        self.calls = []
        # The results the node gave to calls whose reply was dropped.
        self.dropped_results = []
        # (txid, vout, confirmations) of every `removed` entry served.
        self.removed_served = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # One request per connection: simple, and what ureq copes with.
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass  # quiet: the tests print the daemon's log instead

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    request = json.loads(body)
                    method = request.get("method")
                    request_id = request.get("id")
                except (ValueError, AttributeError):
                    method, request_id = None, None
                action = ("forward",)
                if method == "sendtoaddress":
                    action = proxy._next_send_action()
                elif method == "listsinceblock" and proxy.core_listsinceblock:
                    action = ("core",)
                kind = action[0]
                if kind == "core":
                    status, reply, what = proxy._core_listsinceblock(
                        self.path, body, self.headers, request)
                    proxy._record(method, what)
                    self._answer(status, reply)
                elif kind == "forward":
                    status, reply = proxy._forward(self.path, body, self.headers)
                    proxy._record(method, "forwarded")
                    self._answer(status, reply)
                elif kind == "drop-reply":
                    status, reply = proxy._forward(self.path, body, self.headers)
                    try:
                        answer = json.loads(reply)
                    except ValueError:
                        answer = {}
                    error = answer.get("error") if isinstance(answer, dict) else None
                    if error:
                        # Refused: nothing was sent; drop the next one.
                        with proxy._lock:
                            proxy._script.insert(0, action)
                        proxy._record(method, f"node error {error.get('code')}")
                        self._answer(status, reply)
                        return
                    with proxy._lock:
                        proxy.dropped_results.append(answer.get("result"))
                    proxy._record(method, "reply-dropped")
                    # No status line, no body: the connection just closes.
                    self.close_connection = True
                elif kind == "error":
                    _, code, message = action
                    proxy._record(method, f"error {code}")
                    reply = json.dumps({"result": None,
                                        "error": {"code": code, "message": message},
                                        "id": request_id}).encode()
                    self._answer(500, reply)
                elif kind == "http":
                    _, status, text = action
                    proxy._record(method, f"http {status}")
                    self._answer(status, text.encode(), content_type="text/html")
                elif kind == "stall":
                    proxy._record(method, "stalled")
                    time.sleep(action[1])
                    self.close_connection = True
                else:
                    raise ValueError(f"unknown proxy action {action!r}")

            def _answer(self, status, body, content_type="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def script_send(self, *actions):
        """Queues behaviours for the next `sendtoaddress` calls."""
        with self._lock:
            self._script.extend(actions)

    def _next_send_action(self):
        with self._lock:
            return self._script.pop(0) if self._script else ("forward",)

    def _record(self, method, what):
        with self._lock:
            self.calls.append((method, what))

    def sends(self):
        """What happened to each `sendtoaddress` call so far."""
        with self._lock:
            return [what for method, what in self.calls if method == "sendtoaddress"]

    def _forward(self, path, body, headers):
        conn = http.client.HTTPConnection(*self.target, timeout=60)
        try:
            forwarded = {"Content-Type": headers.get("Content-Type", "application/json")}
            if headers.get("Authorization"):
                forwarded["Authorization"] = headers["Authorization"]
            conn.request("POST", path, body, forwarded)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    # --- Bitcoin Core's listsinceblock (opt-in scripted double) ----------------------

    def _call(self, path, headers, method, *params):
        """One JSON-RPC call of the proxy's own to the node, with the
        daemon's credentials; amounts parsed as exact decimals."""
        body = json.dumps({"jsonrpc": "1.0", "id": "rpc-proxy", "method": method,
                           "params": list(params)}).encode()
        _, raw = self._forward(path, body, headers)
        reply = json.loads(raw, parse_float=Decimal)
        if reply.get("error"):
            raise NodeRpcError(method, reply["error"].get("code"), reply["error"].get("message"))
        return reply["result"]

    def _core_listsinceblock(self, path, body, headers, request):
        """(HTTP status, body, what to record) of `listsinceblock` as
        Bitcoin Core answers it; see the module's docstring."""
        params = request.get("params") or []
        if isinstance(params, dict):
            blockhash = params.get("blockhash")
        else:
            blockhash = params[0] if params else None
        request_id = request.get("id")

        def error(code, message):
            return 500, to_json({"result": None, "error": {"code": code, "message": message},
                                 "id": request_id}).encode(), f"core: error {code}"

        stale = []
        fork = None
        if blockhash:
            try:
                block = self._call(path, headers, "getblock", blockhash)
            except NodeRpcError as e:
                if e.code == -5:
                    return error(-5, "Block not found")
                raise
            while block["confirmations"] < 0:  # -1: not on the main chain
                stale.append(block)
                block = self._call(path, headers, "getblock", block["previousblockhash"])
            fork = block
        status, raw = self._forward(path, body, headers)
        reply = json.loads(raw, parse_float=Decimal)
        if reply.get("error") or not isinstance(reply.get("result"), dict):
            return status, raw, "core: node error relayed"
        result = reply["result"]
        transactions = result.get("transactions") or []
        if fork is not None:
            depth = self._call(path, headers, "getblockcount") + 1 - fork["height"]
            transactions = [e for e in transactions if abs(e.get("confirmations", 0)) < depth]
        removed = []
        for block in stale:
            for txid in block["tx"]:
                removed.extend(self._core_entries(path, headers, txid))
        with self._lock:
            self.removed_served.extend(
                (e.get("txid"), e.get("vout"), e.get("confirmations")) for e in removed)
        answer = {"transactions": transactions, "removed": removed,
                  "lastblock": result.get("lastblock")}
        body = to_json({"result": answer, "error": None, "id": reply.get("id")}).encode()
        return 200, body, f"core: {len(stale)} stale block(s), {len(removed)} removed"

    def _core_entries(self, path, headers, txid):
        """A wallet transaction's entries as Core's ListTransactions gives
        them with nMinDepth -100000000; [] for a transaction that is not
        the wallet's."""
        try:
            tx = self._call(path, headers, "gettransaction", txid)
        except NodeRpcError as e:
            if e.code == -5:  # not a wallet transaction
                return []
            raise
        # WalletTxToJSON's fields, shared by every entry of the transaction.
        common = {k: v for k, v in tx.items() if k not in ("amount", "fee", "details", "hex")}
        details = list(tx.get("details") or [])
        if tx["confirmations"] < 0 and "fee" not in tx and not any(
                d.get("category") == "receive" for d in details):
            # Conflicted: the node's details drop the receives; rebuild
            # them from the transaction's outputs the wallet owns.
            decoded = self._call(path, headers, "decoderawtransaction", tx["hex"])
            for out in decoded["vout"]:
                addresses = out.get("scriptPubKey", {}).get("addresses") or []
                if len(addresses) != 1:
                    continue
                info = self._call(path, headers, "validateaddress", addresses[0])
                if not info.get("ismine"):
                    continue
                label = info.get("account", info.get("label", ""))
                details.append({"address": addresses[0], "category": "receive",
                                "amount": Decimal(out["value"]).quantize(SATOSHI),
                                "label": label, "vout": out["n"]})
        entries = []
        for detail in details:
            entry = dict(detail)
            for key, value in common.items():
                entry.setdefault(key, value)
            if entry["confirmations"] >= REMOVED_MIN_DEPTH:
                entries.append(entry)
        return entries

    def close(self):
        self.server.shutdown()
        self.server.server_close()
