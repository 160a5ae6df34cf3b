"""Reports: the therapist's weekly adherence report and the patient's weekly summary,
as HTML (Jinja2), PDF (WeasyPrint, from the same HTML), CSV and charts (matplotlib)."""
