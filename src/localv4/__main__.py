from localv4.cli import main

main()
