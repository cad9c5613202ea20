"""Shots: color an animation cut from its keyframes, frame after frame (paint-bucket workflow)."""
