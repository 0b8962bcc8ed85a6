"""incident-severity: the incident tracker's C extension, published to the team's private index."""

from setuptools import Extension, setup

setup(
    name="incident-severity",
    version="1.0",
    ext_modules=[Extension("incident_severity", sources=["severity.c"])],
)
