"""Shared pytest set-up: the hypothesis profile that `make fuzz` selects.

`make fuzz` runs only the tests marked ``@pytest.mark.property`` with ``--hypothesis-profile=fuzz``:
every property test that sets no ``max_examples`` of its own gets ``FUZZ_EXAMPLES`` examples
(default 50), no per-example deadline (the machine is shared and loaded), and no example database
written into the tree. A test that sets its own ``max_examples`` can read the same budget:
``settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), deadline=None)``.
"""

import os

from hypothesis import settings

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "50")),
    deadline=None,
    database=None,
)
