from metricwatch.cli import main

main()
