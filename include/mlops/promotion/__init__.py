"""Promotion: the champion/challenger decision, the evaluation that records it, alias moves (promote,
rollback) with their history, the human approval gate, the shadow stage and the evaluation card."""
