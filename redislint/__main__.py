from redislint.cli import run

run()
