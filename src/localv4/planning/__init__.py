"""Planning: which variant, where, with what context, at what estimated speed, on one machine
or a pool of them. The answer is plain values (`values`); the stages after it read only those."""
