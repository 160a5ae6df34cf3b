"""The patient portal's services: invitations, data links, browser link flows,
the patient's own data (export, deletion). Pages live in ``stridewise.web.patient``."""
