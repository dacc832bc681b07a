# Stand-in for the bitarray package on a Python 2.7 without it: only what Ganeti 2.15 uses
# (bitarray("0101"), bitarray(n), indexing and assignment, search(pattern, limit), setall, len, to01).


class bitarray(object):  # pylint: disable=C0103

  def __init__(self, init=None):
    if isinstance(init, (int, long)):  # noqa: F821 (Python 2)
      self._b = [False] * init
    elif init is None:
      self._b = []
    else:
      self._b = [c == "1" for c in init]

  def __len__(self):
    return len(self._b)

  def __getitem__(self, i):
    return self._b[i]

  def __setitem__(self, i, v):
    self._b[i] = bool(v)

  def setall(self, v):
    self._b = [bool(v)] * len(self._b)

  def search(self, pattern, limit=None):
    out = []
    p = pattern._b  # pylint: disable=W0212
    for i in range(len(self._b) - len(p) + 1):
      if self._b[i:i + len(p)] == p:
        out.append(i)
        if limit is not None and len(out) >= limit:
          break
    return out

  def to01(self):
    return "".join("1" if b else "0" for b in self._b)
