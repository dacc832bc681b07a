# Stand-in for simplejson, which Ganeti 2.15's serializer imports, on a Python 2.7 without it:
# Python 2.7's json module is simplejson 2.0.9's code (loads/dumps with the same arguments).
from json import *  # noqa: F401,F403
from json import JSONDecoder, JSONEncoder, dumps, loads  # noqa: F401
