from archscope.cli.entry import main

main()
