from tidings.cli import main

if __name__ == "__main__":  # not when a helper process imports it as __mp_main__
    main()
