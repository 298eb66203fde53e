"""Boundary lines, markers (界桩), joint inspections (联检) and disputes (边界争议)."""
