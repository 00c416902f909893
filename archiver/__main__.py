from archiver.entry import main

main()
