"""Layer 2: bundled images, catalogs, simulated interactions, your own files, splits.

``from visrec_helpers import data`` gives every loader by its plain name."""

from visrec_helpers.data.catalogs import DIGIT_NAMES, Catalog, digit_attributes, digits_catalog, photo_catalog  # noqa: F401
from visrec_helpers.data.emoji import (  # noqa: F401
    EMOJI_COLOURS,
    EMOJI_CREDIT_LINE,
    EMOJI_CREDITS,
    EMOJI_STYLES,
    dominant_colour,
    emoji_cache_path,
    emoji_catalog,
    emoji_rgba,
)
from visrec_helpers.data.files import load_image_folder, load_interactions_csv  # noqa: F401
from visrec_helpers.data.images import (  # noqa: F401
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    PHOTO_TAGS,
    DataError,
    ImageLoadError,
    as_float_image,
    as_image_batch,
    load_digits_8x8,
    load_image,
    load_mnist,
    load_photos,
)
from visrec_helpers.data.interactions import (  # noqa: F401
    EVENTS,
    WEIGHT_POLICIES,
    interaction_weights,
    interactions_to_csr,
    validate_interactions,
)
from visrec_helpers.data.simulate import SimulatedTruth, simulate_users  # noqa: F401
