"""The long-lived live service (``stratops live serve``): waits for each venue session on its
calendar, holds until the broker session is ready (paging), trades the session through the
runner, confirms the flatten, writes the day's reconciliation and sleeps to the next session.
"""
