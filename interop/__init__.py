"""Standard clinical output: FHIR R4 resources (HL7 Physical Activity IG pattern) and
IEEE 1752.1 physical-activity data points, and the way back from a FHIR Bundle to
daily totals.

The builders are pure functions of a :class:`interop.slices.PatientSlice` (the
rules' day table, the plan, the devices); :mod:`interop.slices` is the only
module here that reads the database.
"""
