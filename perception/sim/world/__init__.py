"""Procedural street world: road, markings, sidewalks, frontage (buildings, parking lots, parks, walls, fences),
street furniture, intersections with traffic lights, and traffic. Everything follows from one seed.

    layout.py     the drive's world: route, intersections, crosswalks, ego, sun and sky (build_world)
    street.py     cross-section, road, markings, parking lanes, sidewalks, crosswalks, ground
    zones.py      frontage zones behind the sidewalks
    furniture.py  trees, bushes, street lights, signs, traffic lights and their layout
    traffic.py    vehicles, cyclists, pedestrians and parked vehicles
    builder.py    the accumulating builder; palette.py: colours
"""
from perception.sim.world.layout import World, build_world

__all__ = ['World', 'build_world']
