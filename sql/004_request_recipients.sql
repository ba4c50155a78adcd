-- bitcoIM schema, version 4: a requester's waiting requests are counted
-- (to bound them) by the requester, not by reading every pending order.
CREATE INDEX orders_request_recipient ON orders(recipient_id, state) WHERE origin = 'request';
