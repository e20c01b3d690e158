from amend.cli import main

main()
