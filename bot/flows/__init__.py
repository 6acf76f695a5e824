"""The conversations Lindungi holds, each a small state machine over ``Question``s."""
