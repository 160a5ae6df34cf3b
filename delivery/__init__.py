"""Delivery: the transactional outbox, its channels (SMTP email, Standard Webhooks)
and the message hygiene that decides when a patient or therapist hears from us."""
