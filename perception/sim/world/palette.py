"""Colours of the world's materials (base albedo, rgb in [0, 1]); one is drawn per object where a palette has
several."""
import numpy as np

FACADES = np.array([[0.78, 0.74, 0.66], [0.62, 0.6, 0.58], [0.85, 0.84, 0.8], [0.6, 0.36, 0.28], [0.5, 0.52, 0.56],
                    [0.82, 0.72, 0.5], [0.42, 0.4, 0.38], [0.7, 0.78, 0.8]])
PAVERS = np.array([[0.62, 0.62, 0.6], [0.7, 0.66, 0.6], [0.55, 0.45, 0.42], [0.5, 0.52, 0.55]])
# foliage as cameras see it: dull greens (real vegetation's saturation is about half a paint's)
FOLIAGE = np.array([[0.24, 0.33, 0.17], [0.3, 0.38, 0.2], [0.2, 0.27, 0.17], [0.34, 0.38, 0.22]])
SIGNS = np.array([[0.85, 0.1, 0.1], [0.1, 0.25, 0.7], [0.95, 0.95, 0.95], [0.95, 0.8, 0.1]])
FENCES = [(0.35, 0.35, 0.33), (0.5, 0.38, 0.25), (0.2, 0.3, 0.22)]

WHITE_PAINT = (0.75, 0.75, 0.73)   # worn road paint
YELLOW_PAINT = (0.72, 0.6, 0.2)
BRICK = (0.62, 0.32, 0.24)
BARK = (0.35, 0.25, 0.17)
KERB_STONE = (0.72, 0.71, 0.68)
IRON = (0.18, 0.18, 0.19)        # manhole covers, drain grates
LOW_WALL = (0.6, 0.6, 0.58)
STREET_LIGHT_GREY = (0.45, 0.46, 0.47)
SIGN_POLE_GREY = (0.5, 0.5, 0.5)
SIGNAL_POLE_GREY = (0.3, 0.3, 0.3)
SIGNAL_HOUSING = (0.08, 0.08, 0.08)
SIGNAL_LAMPS = ((1.0, 0.1, 0.05), (1.0, 0.7, 0.0), (0.1, 1.0, 0.4))  # red, amber, green from the top

ASPHALT_GREY = (0.15, 0.25)      # range of the road's grey level, drawn per world (real asphalt: 0.1-0.2)
GRASS_BRIGHTENING = (1.2, 1.6)   # the ground is a foliage colour brightened by this factor
