"""The pre-trade risk engine: every order intent passes through it before execution."""
